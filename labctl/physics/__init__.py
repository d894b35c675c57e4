"""Physics engine: edge laws, steady states, learning rules, bench dynamics, tasks."""
