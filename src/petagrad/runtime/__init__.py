"""Runtime layer: devices (allocator, compiler, program launch) and their registry."""
