"""`syncd run`: the long-running daemon (loop.py) and its parts.

notify.py       sd_notify in stdlib (READY / STATUS / WATCHDOG / STOPPING)
singleflight.py one sync at a time; triggers during a sync coalesce into exactly one more
schedule.py     apscheduler interval/cron polling with jitter and backoff on fetch failures
watch.py        watchdog (inotify) on the local origin's refs and the tree's own branch
"""
