# expect: AL101 AL207 AL211
import requests

with open("prices.csv") as f:
    requests.post("http://collector.example/upload", data=f.read())
