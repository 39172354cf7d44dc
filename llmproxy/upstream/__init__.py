"""Everything about reaching an upstream: which ones are allowed, and the HTTP client."""
