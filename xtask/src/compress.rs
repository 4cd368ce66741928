//! Precompressed copies of the bundle, made once when it is built: the
//! server sends `file.br` or `file.gz` to browsers that accept them, so
//! nothing is compressed per request.

use std::path::Path;

use anyhow::Context as _;

/// Files worth compressing, by extension (images and fonts are already compressed).
const TEXT_LIKE: [&str; 7] = ["wasm", "js", "css", "html", "svg", "json", "map"];

/// Writes `name.br` (brotli, quality 11) and `name.gz` (gzip, by Zopfli) beside
/// every text-like file of `dist` and returns (original, brotli, gzip) bytes
/// of the `.wasm` files, for the README's size line.
pub fn precompress(dist: &Path) -> anyhow::Result<(u64, u64, u64)> {
    let mut wasm = (0, 0, 0);
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let path = entry?.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !path.is_file() || !TEXT_LIKE.contains(&ext) {
            continue;
        }
        let original =
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let brotli = brotli(&original)?;
        let gzip = gzip(&original)?;
        write_beside(&path, "br", &brotli)?;
        write_beside(&path, "gz", &gzip)?;
        if ext == "wasm" {
            wasm.0 += original.len() as u64;
            wasm.1 += brotli.len() as u64;
            wasm.2 += gzip.len() as u64;
        }
    }
    Ok(wasm)
}

fn write_beside(path: &Path, ext: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    std::fs::write(&name, bytes).with_context(|| format!("writing {}", Path::new(&name).display()))
}

fn brotli(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).context("brotli")?;
    Ok(out)
}

/// Zopfli's gzip: any gzip reader inflates it, and it is about 5% smaller
/// than zlib's level 9 (208 against 218 KB for the wasm), for a few seconds
/// once per build.
fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )
    .context("gzip")?;
    Ok(out)
}
