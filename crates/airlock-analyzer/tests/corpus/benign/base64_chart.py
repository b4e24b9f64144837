import base64
import io

import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.plot([1, 3, 2, 4])
buffer = io.BytesIO()
fig.savefig(buffer, format="png")
encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
print(encoded[:40], "...")
