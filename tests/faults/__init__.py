"""Faults thrown at the client by a raw-socket hostile server, on asyncio and trio."""
