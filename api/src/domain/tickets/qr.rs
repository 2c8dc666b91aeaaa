//! A ticket's QR code, as SVG (for the app to draw inline) and as PNG (for a link the buyer
//! opens, saves or prints). Error correction level M: a cracked phone screen or a crease in
//! a printout still scans, and a payload of a few hundred characters stays a code a door
//! scanner reads at arm's length.

use qrcode::{Color, EcLevel, QrCode};

use crate::error::{ApiError, ApiResult};

/// Pixels per module in the PNG.
const PNG_MODULE_PX: usize = 8;
/// The blank margin the QR standard asks for, in modules.
const QUIET_ZONE: usize = 4;

fn code(payload: &str) -> ApiResult<QrCode> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|err| ApiError::internal(anyhow::anyhow!("a ticket payload does not fit a QR code: {err}")))
}

/// The QR code of `payload` as a standalone SVG document.
pub fn svg(payload: &str) -> ApiResult<String> {
    Ok(code(payload)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// The QR code of `payload` as an 8-bit greyscale PNG.
pub fn png(payload: &str) -> ApiResult<Vec<u8>> {
    let code = code(payload)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE;
    let side = side_modules * PNG_MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for row in 0..PNG_MODULE_PX {
            let start = (y * PNG_MODULE_PX + row) * side + x * PNG_MODULE_PX;
            pixels[start..start + PNG_MODULE_PX].fill(0);
        }
    }
    let side = u32::try_from(side).map_err(ApiError::internal)?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(ApiError::internal)?;
    writer.write_image_data(&pixels).map_err(ApiError::internal)?;
    writer.finish().map_err(ApiError::internal)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_and_png_are_made_for_a_payload_of_realistic_length() {
        let payload = "x".repeat(300);
        let svg = svg(&payload).expect("svg");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let png = png(&payload).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("a readable PNG");
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % PNG_MODULE_PX, 0);
    }
}
