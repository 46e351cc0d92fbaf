#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Packs a directory into a one-layer OCI image archive (an OCI layout in a tar) that
# `ctr images import` loads: uncompressed layer, config with the entrypoint, an index naming the
# image in both annotations containerd reads. Deterministic: owners root, times 0, sorted names.
#
#   oci_pack.py ROOT REF OUT.tar ENTRYPOINT...
import hashlib, io, json, os, sys, tarfile


def layer_tar(root):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                info = t.gettarinfo(path, os.path.relpath(path, root))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isfile():
                    with open(path, "rb") as f:
                        t.addfile(info, f)
                else:
                    t.addfile(info)
    return buf.getvalue()


def blob(out, data, media):
    d = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{d}")
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))
    return {"mediaType": media, "digest": f"sha256:{d}", "size": len(data)}


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: oci_pack.py ROOT REF OUT.tar ENTRYPOINT...")
    root, ref, out_path, entry = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if not os.path.isdir(root):
        sys.exit(f"oci_pack: \"{root}\" is not a directory")
    layer = layer_tar(root)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entry, "WorkingDir": "/",
                   "Env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, "w") as out:
        cdesc = blob(out, json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
        ldesc = blob(out, layer, "application/vnd.oci.image.layer.v1.tar")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cdesc, "layers": [ldesc]}
        mdesc = blob(out, json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
        mdesc["platform"] = {"architecture": "amd64", "os": "linux"}
        mdesc["annotations"] = {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref}
        for name, data in (("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
                           ("index.json", json.dumps({"schemaVersion": 2, "manifests": [mdesc]}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    os.rename(tmp, out_path)


main()
