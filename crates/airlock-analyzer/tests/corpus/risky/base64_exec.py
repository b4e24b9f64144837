# expect: AL201 AL403
import base64

blob = "aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk="
exec(base64.b64decode(blob))
