"""Run the node: `python -m pipeline`. Port and AE title come from the environment syncd renders."""

import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

version = Path("VERSION").read_text().strip()
if version.startswith("broken"):
    sys.exit(f"pipeline {version}: cannot start (a broken release, on purpose)")

# Under ProtectSystem=strict the tree is read-only: logs go where the unit lets us write.
log_dir = Path(os.environ.get("LOGS_DIRECTORY", "."))
logging.basicConfig(filename=log_dir / "log.log", level=os.environ.get("LOG_LEVEL", "info").upper())

# What the tests read back: the version, the environment's names and a digest of each value
# (never the values themselves), and the credentials systemd handed over.
state = Path(os.environ.get("STATE_DIRECTORY", "."))
creds = Path(os.environ["CREDENTIALS_DIRECTORY"]) if "CREDENTIALS_DIRECTORY" in os.environ else None
report = {
    "version": version,
    "pid": os.getpid(),
    "env": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()},
    "credentials": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in creds.iterdir()}
    if creds
    else {},
}
(state / "report.json").write_text(json.dumps(report))

ae = AE(ae_title=os.environ.get("AE_TITLE", "PIPELINE"))
ae.require_called_aet = True  # as DicomNode nodes do: a C-ECHO to another AE title is refused
ae.add_supported_context(Verification)
port = int(os.environ.get("DICOM_PORT", "104"))
logging.info("pipeline %s listening on %d", version, port)
ae.start_server(("0.0.0.0", port), block=True, evt_handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000)])
