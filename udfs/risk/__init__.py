"""Risk: smart filter, priority tiers, verdict cache, key pool and the vision-LLM assessment."""
