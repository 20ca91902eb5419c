"""The OpenAI chat completions door: POST /v1/chat/completions and GET /v1/models."""
