#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# gated_reader.py PATH OUT READY GO (PREFIX | --after FIRST): a reader that a test changes the
# object under, at a moment of the test's choosing.
#   PREFIX         opens PATH now (no kernel read-ahead: nothing past what it read is cached) and
#                  reads its first PREFIX bytes: what follows is read from the same descriptor
#   --after FIRST  reads the file FIRST whole; PATH is opened only after GO
# Then it creates READY, waits for the file GO, and reads PATH on to its end. OUT gets every byte
# read; stdout says "complete", or "errno N NAME" for the error that ended the read.
import errno
import os
import sys
import time

path, out, ready, go = sys.argv[1:5]
got = bytearray()
fd = -1
if sys.argv[5] == "--after":
    with open(sys.argv[6], "rb") as f:
        while f.read(1 << 20):
            pass
else:
    prefix = int(sys.argv[5])
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    while len(got) < prefix:
        b = os.pread(fd, min(1 << 20, prefix - len(got)), len(got))
        if not b:
            sys.exit("%s ended at %d bytes, before the %d to read first" % (path, len(got), prefix))
        got += b
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
res = "complete"
try:
    if fd < 0:
        fd = os.open(path, os.O_RDONLY)
    while True:
        b = os.pread(fd, 1 << 20, len(got))
        if not b:
            break
        got += b
except OSError as e:
    res = "errno %d %s" % (e.errno, errno.errorcode.get(e.errno, "?"))
open(out, "wb").write(got)
print(res)
