"""Wire types and helpers shared by every route that speaks a dialect, one module a dialect."""
