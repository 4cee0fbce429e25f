// The parts of Apache ECharts the dashboard uses, bundled as one script that sets window.echarts.
import * as echarts from 'echarts/core';
import { BarChart, SankeyChart, HeatmapChart } from 'echarts/charts';
// No toolbox: the time series' brush is switched on from app.js (takeGlobalCursor), without buttons.
import {
  GridComponent, TooltipComponent, LegendComponent, BrushComponent, VisualMapComponent, AriaComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, SankeyChart, HeatmapChart, GridComponent, TooltipComponent, LegendComponent,
  BrushComponent, VisualMapComponent, AriaComponent, CanvasRenderer]);
window.echarts = echarts;
