"""A FastAPI service whose routes need authsvc credentials: `python examples/fastapi_service.py`
(needs `pip install 'authsvc[fastapi]' uvicorn`).

AUTHSVC_TARGET (default 127.0.0.1:50051) is AuthService's gRPC address; PORT (default 8000) is
where this service listens.
"""

import os
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI

from authsvc.client import AuthClient, Principal
from authsvc.client.fastapi import CurrentPrincipal, protect, require

app = FastAPI()
protect(app, AuthClient(os.environ.get("AUTHSVC_TARGET", "127.0.0.1:50051")))


@app.get("/healthz")  # no dependency: public
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:  # any valid credential
    return {"kind": principal.kind, "subject_id": principal.subject_id}


@app.get("/geofences")
async def list_geofences(
    principal: Annotated[Principal, Depends(require("geofences:read"))],
) -> dict[str, str]:
    return {"workspace_id": principal.workspace_id}


@app.post("/geofences", status_code=201, dependencies=[Depends(require("geofences:write"))])
async def create_geofence() -> dict[str, bool]:
    return {"created": True}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
