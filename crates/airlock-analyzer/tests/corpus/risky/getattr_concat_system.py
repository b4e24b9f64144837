# expect: AL101 AL203 AL401
import os

getattr(os, "sys" + "tem")("id")
