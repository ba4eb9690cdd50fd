"""The event bus: Redis Streams when configured, an in-memory bus otherwise."""
