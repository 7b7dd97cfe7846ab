"""Chapter 7: one module per open problem, each a small real experiment on top of the engine."""
