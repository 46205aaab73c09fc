#!/usr/bin/env python3
# Writes one Claude Code session of about SIZE MiB (tool results of ~33 KB) for memory measurements:
#   python3 scripts/big-claude-code.py /tmp/big.jsonl 200
import json, sys, random
out = sys.argv[1]; target = int(sys.argv[2]) * 1024 * 1024
random.seed(1)
sid = "9a1b2c3d-0000-4000-8000-000000000001"
base = {"isSidechain": False, "userType": "external", "cwd": "/home/dev/shop", "sessionId": sid, "version": "2.0.1", "gitBranch": "main"}
words = "the cart total is rounded once at the end of checkout and tests cover it".split()
def blob(n):
    return "\n".join(" ".join(random.choice(words) for _ in range(12)) for _ in range(n // 70))
n = 0; size = 0; parent = None
with open(out, "w") as f:
    while size < target:
        n += 1
        uid = f"u-{n:06d}"
        if n % 2 == 1:
            rec = dict(base, parentUuid=parent, uuid=uid, timestamp=f"2026-01-01T00:{(n//60)%60:02d}:{n%60:02d}.000Z", type="assistant",
                       message={"id": f"msg_{n}", "type": "message", "role": "assistant", "model": "claude-sonnet-4", "content": [
                           {"type": "text", "text": "Running the tests."},
                           {"type": "tool_use", "id": f"toolu_{n}", "name": "Bash", "input": {"command": f"npm test -- --shard {n}"}}]})
        else:
            rec = dict(base, parentUuid=parent, uuid=uid, timestamp=f"2026-01-01T00:{(n//60)%60:02d}:{n%60:02d}.000Z", type="user",
                       message={"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n-1}", "content": blob(33000), "is_error": n % 10 == 0}]})
        line = json.dumps(rec) + "\n"
        f.write(line); size += len(line); parent = uid
print(n, size)
