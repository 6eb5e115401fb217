"""How much a caller may do: rate limits and the search budget."""
