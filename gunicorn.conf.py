"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py 'portal:create_app()'``.

Workers follow the core count (gunicorn's documented rule of thumb, 2 x cores
+ 1), overridable with GUNICORN_WORKERS; the bind address with GUNICORN_BIND.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1))
timeout = 60
# gunicorn's largest request line (its default, 4094 bytes, answers a search
# link of a few hundred accented characters with a bare 414 page)
limit_request_line = 8190
graceful_timeout = 30
# Recycle workers now and then so slow leaks cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
from portal.logs import ACCESS_LOG_FORMAT as access_log_format  # noqa: E402
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
