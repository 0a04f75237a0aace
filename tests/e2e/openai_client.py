"""routec serve, end to end with the official openai client.

Usage: python openai_client.py BASE_URL POLICY_NAME
Prints one JSON object with what it saw; the Rust test asserts on it.
"""

import json
import sys

import openai

base_url, policy = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="client-key", max_retries=0, timeout=30)
out = {}

# A completion, routed by the table.
raw = client.chat.completions.with_raw_response.create(
    model=policy,
    messages=[{"role": "user", "content": "hello"}],
    metadata={"tier": "gold"},
    extra_headers={"x-route-task": "code"},
)
completion = raw.parse()
out["completion"] = {
    "content": completion.choices[0].message.content,
    "finish_reason": completion.choices[0].finish_reason,
    "prompt_tokens": completion.usage.prompt_tokens if completion.usage else None,
    "model_header": raw.headers.get("x-routec-model"),
    "request_id": raw.headers.get("x-request-id"),
}

# A streamed completion.
stream = client.chat.completions.create(
    model=policy,
    messages=[{"role": "user", "content": "hello"}],
    stream=True,
    stream_options={"include_usage": True},
)
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage.completion_tokens
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
out["stream"] = {"content": "".join(pieces), "finish_reason": finish, "completion_tokens": usage}

# An error: an unknown model is an OpenAI-style 404 the client raises.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    out["error"] = None
except openai.NotFoundError as e:
    out["error"] = {"status": e.status_code, "code": e.code, "message": str(e.message)}

# The model list.
out["models"] = sorted(m.id for m in client.models.list().data)

print(json.dumps(out))
