"""One module per report section; each has ``build(ctx) -> str`` (the section's HTML body)."""
