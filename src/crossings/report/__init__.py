"""PNG maps and plots a person would rather look at than read (matplotlib, Agg backend)."""
