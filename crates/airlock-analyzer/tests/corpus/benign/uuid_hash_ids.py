import hashlib
import uuid

run_id = uuid.uuid4().hex[:8]
digest = hashlib.sha256(b"strategy-v2").hexdigest()[:12]
print(f"run {run_id} of {digest}")
