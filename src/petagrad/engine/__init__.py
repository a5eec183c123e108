"""Engine layer: run schedules on devices; capture and replay them for the step JIT."""
