import pandas as pd

columns = [chr(65 + i) for i in range(6)]
frame = pd.DataFrame([[i * j for j in range(6)] for i in range(4)], columns=columns)
print(frame)
