"""What the client API doors share; imports no door: the completion call, streaming, errors."""
