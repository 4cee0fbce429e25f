"""The embedded default, composed above the services: the supervisor behind `logstream up`, the
broker process, child-process handling, and the process that owns the chDB directory."""
