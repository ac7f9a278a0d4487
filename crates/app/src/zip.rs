//! A small ZIP writer (stored entries, UTF-8 names) for bulk downloads of invoice PDFs, which
//! are compressed already: no compression needed, nothing to get wrong.

/// Files of at most 4 GiB in total, at most 65,535 of them.
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
    /// MS-DOS time and date of every entry.
    time: u16,
    date: u16,
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

impl ZipWriter {
    /// `date`: the entries' modification date.
    pub fn new(date: jiff::civil::Date) -> Self {
        let year = u16::try_from(date.year().clamp(1980, 2107) - 1980).unwrap_or(0);
        let month = u16::try_from(date.month()).unwrap_or(1);
        let day = u16::try_from(date.day()).unwrap_or(1);
        Self {
            out: Vec::new(),
            central: Vec::new(),
            entries: 0,
            time: 0,
            date: (year << 9) | (month << 5) | day,
        }
    }

    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), &'static str> {
        let size = u32::try_from(data.len()).map_err(|_| "file too large for a ZIP")?;
        let offset = u32::try_from(self.out.len()).map_err(|_| "archive too large")?;
        let name_len = u16::try_from(name.len()).map_err(|_| "name too long")?;
        self.entries = self.entries.checked_add(1).ok_or("too many files")?;
        let crc = crc32(data);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0x0800u16.to_le_bytes()); // UTF-8 names
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&self.time.to_le_bytes());
            v.extend_from_slice(&self.date.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&name_len.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        self.out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut self.out);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(data);

        self.central
            .extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut self.central);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        Ok(())
    }

    pub fn finish(mut self) -> Result<Vec<u8>, &'static str> {
        let cd_offset = u32::try_from(self.out.len()).map_err(|_| "archive too large")?;
        let cd_size = u32::try_from(self.central.len()).map_err(|_| "archive too large")?;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&cd_size.to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_the_zip_one() {
        // The CRC-32 of "123456789" is the standard check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn archive_layout() {
        let mut z = ZipWriter::new(jiff::civil::date(2026, 11, 26));
        z.add("a.pdf", b"%PDF-a").unwrap();
        z.add("é.pdf", b"").unwrap();
        let bytes = z.finish().unwrap();
        assert_eq!(&bytes[..4], &[0x50, 0x4b, 0x03, 0x04]);
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(&end[..4], &[0x50, 0x4b, 0x05, 0x06]);
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 2);
    }
}
