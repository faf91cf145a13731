"""Security: envelope encryption at rest, tenants, users, roles and API keys, rate limits."""
