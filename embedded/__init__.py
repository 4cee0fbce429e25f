"""The composition layer: what `logstream up` runs on one machine (brokers, supervised processes).

May import the core package `logstream`; nothing in `logstream` imports it."""
