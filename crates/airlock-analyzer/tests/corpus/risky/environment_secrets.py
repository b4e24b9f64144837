# expect: AL101 AL213
import os

print(os.environ.get("OPENAI_API_KEY"), os.getenv("AWS_SECRET_ACCESS_KEY"))
