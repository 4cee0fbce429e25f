"""The `logstream` command: parses arguments and calls down into the layers below."""
