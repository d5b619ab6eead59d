"""Assistant chat: grounded answers with span citations and checked claims."""
