"""Turns the unpacked Debian packages in DATA/unpacked into the training, validation and held-out
evaluation photo sets used by `stronglive train` and `stronglive eval` (called by fetch_data.sh).

Training photos are JPEGs: they are downscaled x2 (Pillow bicubic with antialiasing) so the HR
side is free of visible compression artefacts. The evaluation photos are the largest JPEG
embedded in each enlightenment-data .edj (EET) archive, kept at their 3840x2160 size.
"""

import io
import sys
from pathlib import Path

from PIL import Image

PLASMA = ["BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
          "Grey", "Kite", "OneStandsOut", "Path", "summer_1am"]
LOMIRI_16 = ["Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
             "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
             "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich",
             "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
             "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
             "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi"]
LOMIRI_20 = ["Kleiber_by_Lukas_Baubkus"]
EVAL = ["Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain", "Peaks",
        "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles", "Sunset-Clouds",
        "White-Flower", "Yellow-Flower"]
# Validation during training: two training-side photos set aside (never the evaluation set).
VALIDATION = {"flower", "mate-LadyBird"}


def lomiri_license(copyright_file: Path, name: str) -> str:
    """The per-file License: line of the Debian copyright file."""
    lines = copyright_file.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Files:") and name in line:
            for follow in lines[i + 1:i + 4]:
                if follow.startswith("License:"):
                    return follow.split(":", 1)[1].strip()
    return "see " + str(copyright_file)


def training_sources(root: Path):
    """(short name, file, package, license) for every training photo."""
    for name in PLASMA:
        f = root / f"plasma-workspace-wallpapers/usr/share/wallpapers/{name}/contents/images/2560x1600.jpg"
        yield f"plasma-{name}", f, "plasma-workspace-wallpapers", "GPL-2+"
    for pkg, names in (("lomiri-wallpapers-16.04", LOMIRI_16), ("lomiri-wallpapers-20.04", LOMIRI_20)):
        cr = root / f"{pkg}/usr/share/doc/{pkg}/copyright"
        for name in names:
            f = root / f"{pkg}/usr/share/backgrounds/{name}.jpg"
            yield f"lomiri-{name.split('_by_')[0]}", f, pkg, lomiri_license(cr, name)
    for f in sorted((root / "mate-backgrounds/usr/share/backgrounds/mate/nature").glob("*.jpg")):
        with Image.open(f) as im:
            if im.width >= 1920 and im.height >= 1080:
                yield f"mate-{f.stem}", f, "mate-backgrounds", "GPL-2+"
    yield ("flower", root / "libjxl-testdata/usr/share/libjxl-testdata/jxl/flower/flower.png",
           "libjxl-testdata", "BSD-3-clause")


def largest_embedded_jpeg(archive: Path) -> Image.Image:
    """EET archives store images as (possibly several) JPEG streams; the original photo is the
    largest one that decodes."""
    data = archive.read_bytes()
    best = None
    start = data.find(b"\xff\xd8\xff")
    while start != -1:
        try:
            im = Image.open(io.BytesIO(data[start:]))
            im.load()
            if best is None or im.width * im.height > best.width * best.height:
                best = im.convert("RGB")
        except Exception:
            pass
        start = data.find(b"\xff\xd8\xff", start + 3)
    if best is None:
        raise SystemExit(f"prepare_photos: no decodable JPEG inside {archive}")
    return best


def main(data: Path) -> None:
    root = data / "unpacked"
    for sub in ("train", "val", "eval"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    credits = ["set\tfile\tpackage\tsource\tlicense"]
    for short, src, pkg, lic in training_sources(root):
        if not src.exists():
            raise SystemExit(f"prepare_photos: {src} missing from package {pkg}")
        subset = "val" if short in VALIDATION else "train"
        out = data / subset / f"{short}.png"
        if not out.exists():
            with Image.open(src) as im:
                im = im.convert("RGB")
                half = im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC,
                                 reducing_gap=None)
                half.save(out)
        credits.append(f"{subset}\t{out.name}\t{pkg}\t{src.relative_to(root / pkg)}\t{lic}")
    for name in EVAL:
        src = root / f"enlightenment-data/usr/share/enlightenment/data/backgrounds/{name}.edj"
        out = data / "eval" / f"{name}.png"
        if not out.exists():
            im = largest_embedded_jpeg(src)
            # most are 3840x2160; Sea-of-Lanterns is 3840x2059 and Spruce-Needles 3838x2160 in
            # the package (eval crops to a multiple of the scale)
            if im.width < 3800 or im.height < 2000:
                raise SystemExit(f"prepare_photos: {src}: largest image is {im.width}x{im.height}, "
                                 "expected about 3840x2160")
            im.save(out)
        credits.append(f"eval\t{out.name}\tenlightenment-data\t{src.relative_to(root / 'enlightenment-data')}"
                       "\tBSD-2-clause (enlightenment-data)")
    (data / "CREDITS.tsv").write_text("\n".join(credits) + "\n")
    counts = {s: len(list((data / s).glob("*.png"))) for s in ("train", "val", "eval")}
    print(f"prepare_photos: {counts['train']} train, {counts['val']} val, {counts['eval']} eval photos in {data}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
