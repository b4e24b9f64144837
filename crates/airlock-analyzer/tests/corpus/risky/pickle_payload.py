# expect: AL101 AL205
import pickle

payload = b"cos\nsystem\n(S'id'\ntR."
pickle.loads(payload)
