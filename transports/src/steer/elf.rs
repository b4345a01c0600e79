//! A minimal reader for the relocatable BPF ELF object that `build.rs` compiles: the program
//! section, the `maps` records, their relocations and the license. Nothing more is needed, so
//! nothing more is parsed; every malformed or unexpected input is an error, never a panic.

/// `sizeof(struct ferrosip_map_def)` in `bpf/steer.bpf.c`.
const MAP_DEF_SIZE: usize = 20;
const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;
const EM_BPF: u16 = 247;
/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 64-bit immediate load.
const LD_IMM64: u8 = 0x18;

/// One map as declared in the object's `maps` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapDef {
    pub(crate) name: String,
    pub(crate) map_type: u32,
    pub(crate) key_size: u32,
    pub(crate) value_size: u32,
    pub(crate) max_entries: u32,
    pub(crate) map_flags: u32,
}

/// A program ready for map-fd patching.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// The raw instructions, 8 bytes each.
    pub(crate) insns: Vec<[u8; 8]>,
    pub(crate) maps: Vec<MapDef>,
    /// (instruction index, index into `maps`) for every `ld_imm64` that loads a map.
    pub(crate) relocs: Vec<(usize, usize)>,
    /// License string without the trailing NUL.
    pub(crate) license: Vec<u8>,
}

struct Section {
    name: u32,
    kind: u32,
    offset: usize,
    size: usize,
    link: u32,
    info: u32,
}

fn err(msg: impl Into<String>) -> String {
    msg.into()
}

fn slice(data: &[u8], at: usize, len: usize) -> Result<&[u8], String> {
    at.checked_add(len)
        .and_then(|end| data.get(at..end))
        .ok_or_else(|| err(format!("truncated object: {len} bytes at {at}")))
}

fn u16_at(data: &[u8], at: usize) -> Result<u16, String> {
    let b = slice(data, at, 2)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, String> {
    let b = slice(data, at, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(data: &[u8], at: usize) -> Result<u64, String> {
    let b = slice(data, at, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

fn usize_of(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| err(format!("value {v} out of range")))
}

fn cstr_at(data: &[u8], at: usize) -> Result<&[u8], String> {
    let rest = data
        .get(at..)
        .ok_or_else(|| err(format!("string offset {at} out of range")))?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| err("unterminated string"))?;
    Ok(&rest[..end])
}

/// Parses `data`, taking the program from the section named `prog_section`.
pub(crate) fn parse(data: &[u8], prog_section: &str) -> Result<Object, String> {
    let ident = slice(data, 0, 16)?;
    if ident[..4] != *b"\x7fELF" || ident[4] != 2 || ident[5] != 1 {
        return Err(err("not a 64-bit little-endian ELF object"));
    }
    if u16_at(data, 18)? != EM_BPF {
        return Err(err("ELF object is not for the BPF machine"));
    }
    let shoff = usize_of(u64_at(data, 0x28)?)?;
    let shentsize = usize::from(u16_at(data, 0x3a)?);
    let shnum = usize::from(u16_at(data, 0x3c)?);
    let shstrndx = usize::from(u16_at(data, 0x3e)?);
    if shentsize < 64 {
        return Err(err("bad section header size"));
    }
    let mut sections = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let at = shoff
            .checked_add(i.checked_mul(shentsize).ok_or_else(|| err("overflow"))?)
            .ok_or_else(|| err("overflow"))?;
        sections.push(Section {
            name: u32_at(data, at)?,
            kind: u32_at(data, at + 4)?,
            offset: usize_of(u64_at(data, at + 24)?)?,
            size: usize_of(u64_at(data, at + 32)?)?,
            link: u32_at(data, at + 40)?,
            info: u32_at(data, at + 44)?,
        });
    }
    let shstr = sections
        .get(shstrndx)
        .ok_or_else(|| err("missing section name table"))?;
    let shstr = slice(data, shstr.offset, shstr.size)?;
    let name_of = |s: &Section| cstr_at(shstr, s.name as usize);
    let find = |wanted: &str| -> Result<Option<usize>, String> {
        for (i, s) in sections.iter().enumerate() {
            if name_of(s)? == wanted.as_bytes() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    };

    let prog_idx =
        find(prog_section)?.ok_or_else(|| err(format!("no section {prog_section:?}")))?;
    let prog = &sections[prog_idx];
    let code = slice(data, prog.offset, prog.size)?;
    if code.is_empty() || code.len() % 8 != 0 {
        return Err(err("program section size is not a multiple of 8"));
    }
    let insns: Vec<[u8; 8]> = code
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            a
        })
        .collect();

    let license = match find("license")? {
        Some(i) => {
            let s = &sections[i];
            cstr_at(slice(data, s.offset, s.size)?, 0)?.to_vec()
        }
        None => return Err(err("no license section")),
    };

    let symtab_idx = sections
        .iter()
        .position(|s| s.kind == SHT_SYMTAB)
        .ok_or_else(|| err("no symbol table"))?;
    let symtab = &sections[symtab_idx];
    let symbols = slice(data, symtab.offset, symtab.size)?;
    let strtab = sections
        .get(symtab.link as usize)
        .ok_or_else(|| err("symbol table without string table"))?;
    let strtab = slice(data, strtab.offset, strtab.size)?;
    let sym = |i: usize| -> Result<(&[u8], u16, u64), String> {
        let at = i.checked_mul(24).ok_or_else(|| err("overflow"))?;
        let name = cstr_at(strtab, u32_at(symbols, at)? as usize)?;
        Ok((name, u16_at(symbols, at + 6)?, u64_at(symbols, at + 8)?))
    };

    let maps_idx = find("maps")?;
    let mut maps = Vec::new();
    // Offset of each map record in the maps section, parallel to `maps`.
    let mut map_offsets = Vec::new();
    if let Some(mi) = maps_idx {
        let ms = &sections[mi];
        let mdata = slice(data, ms.offset, ms.size)?;
        for i in 0..symbols.len() / 24 {
            let (name, shndx, value) = sym(i)?;
            if usize::from(shndx) != mi || name.is_empty() {
                continue;
            }
            let off = usize_of(value)?;
            let rec = slice(mdata, off, MAP_DEF_SIZE)?;
            maps.push(MapDef {
                name: String::from_utf8_lossy(name).into_owned(),
                map_type: u32_at(rec, 0)?,
                key_size: u32_at(rec, 4)?,
                value_size: u32_at(rec, 8)?,
                max_entries: u32_at(rec, 12)?,
                map_flags: u32_at(rec, 16)?,
            });
            map_offsets.push(value);
        }
    }

    let mut relocs = Vec::new();
    for s in &sections {
        if s.kind != SHT_REL || s.info as usize != prog_idx {
            continue;
        }
        if s.link as usize != symtab_idx {
            return Err(err("relocations against another symbol table"));
        }
        let rel = slice(data, s.offset, s.size)?;
        for r in rel.chunks_exact(16) {
            let offset = usize_of(u64_at(r, 0)?)?;
            let info = u64_at(r, 8)?;
            let (name, shndx, value) = sym(usize_of(info >> 32)?)?;
            let name = String::from_utf8_lossy(name);
            if maps_idx != Some(usize::from(shndx)) {
                return Err(err(format!(
                    "relocation against {name:?}, which is not a map (only maps are supported)"
                )));
            }
            let map = map_offsets
                .iter()
                .position(|&o| o == value)
                .ok_or_else(|| err(format!("relocation against unknown map {name:?}")))?;
            if offset % 8 != 0 {
                return Err(err("misaligned relocation"));
            }
            let at = offset / 8;
            match insns.get(at) {
                Some(insn) if insn[0] == LD_IMM64 && at + 1 < insns.len() => {}
                _ => {
                    return Err(err(format!(
                        "relocation for map {name:?} at instruction {at} is not a 64-bit load"
                    )))
                }
            }
            relocs.push((at, map));
        }
    }
    Ok(Object {
        insns,
        maps,
        relocs,
        license,
    })
}
