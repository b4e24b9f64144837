# expect: AL101 AL201 AL205 AL403
import marshal

blob = b"\xe3\x00\x00"
exec(marshal.loads(blob))
