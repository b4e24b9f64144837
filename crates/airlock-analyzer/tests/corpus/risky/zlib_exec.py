# expect: AL201 AL403
import base64
import zlib

exec(zlib.decompress(base64.b64decode("eJzLzC3ILypRyC8u0c9ILUpVSM7PS8vMSVUoSS0uUQIAmfEKbQ==")))
