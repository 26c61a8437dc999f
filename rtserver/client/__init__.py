"""Python client SDK: connect with a token, join rooms, send, iterate events, reconnect and resume.

    async with Client("ws://127.0.0.1:8080/ws", token=token) as client:
        await client.join("conv-42")
        await client.send("conv-42", "Bonjour")
        async for event in client.events():
            ...

After any disconnect the client reconnects (trying each URL in turn, with backoff), joins its
rooms again from the last offset it saw, and re-sends unacknowledged messages with their
idempotency keys: nothing is lost and nothing is seen twice.
"""

from ._client import Client, ClientClosed, ServerError

__all__ = ["Client", "ClientClosed", "ServerError"]
