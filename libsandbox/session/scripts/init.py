# A session sandbox's pid 1: says it is ready, then reaps orphans (background
# processes outlive their exec and are reparented to it).
import os, sys, time
sys.stdout.write('\x06')
sys.stdout.flush()
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(1)
