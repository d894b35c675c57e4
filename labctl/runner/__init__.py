"""The run engine: executes plans against a bench, owns safe state and the λ loop."""
