// The parts of Apache ECharts the dashboard uses, bundled as one script that sets window.echarts.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, SankeyChart, HeatmapChart } from 'echarts/charts';
import {
  GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, BrushComponent,
  ToolboxComponent, VisualMapComponent, AriaComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, SankeyChart, HeatmapChart, GridComponent, TooltipComponent, LegendComponent,
  DataZoomComponent, BrushComponent, ToolboxComponent, VisualMapComponent, AriaComponent, CanvasRenderer]);
window.echarts = echarts;
