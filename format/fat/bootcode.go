package fat

// The boot code of a volume nobody boots from. A FAT boot sector starts
// with a jump over the BPB (fatgen §3.1 BS_jmpBoot: EB xx 90, a short
// jump and a NOP) to code that the BIOS runs when the volume is booted:
// on a data volume, a loop that prints a message with the BIOS teletype
// service, waits for a key and asks the BIOS to try the next boot device.
// dosfstools' mkfs.fat, mformat and Windows' format each write their own;
// these are mkfs.fat's bytes (its dummy_boot_code), so that a volume made
// here equals one mkfs.fat makes.
//
// The code follows the extended BPB: at BootCodeOffset16 on FAT12/16, at
// BootCodeOffset32 on FAT32, and runs from there at 0000:7C00 + offset.
// It is position dependent in one place: the operand of "mov si" is the
// linear address of the message, BootCodeMessage bytes into the code.
const (
	BootCodeOffset16 = offExtBPB16 + extBPBSize // 62
	BootCodeOffset32 = offExtBPB32 + extBPBSize // 90
	// BootCodeSize16 and BootCodeSize32 are the room for code up to the
	// signature at 510.
	BootCodeSize16 = 510 - BootCodeOffset16 // 448
	BootCodeSize32 = 510 - BootCodeOffset32 // 420
	// BootCodeMessage is where the message starts in the code.
	BootCodeMessage = 29
	// bootLoadAddress is where the BIOS loads the boot sector (0000:7C00).
	bootLoadAddress = 0x7C00
	// offMovSI is the offset in the code of the 16-bit operand of
	// "mov si, message".
	offMovSI = 3
)

// bootCode is the code, its message operand to be patched.
var bootCode = [BootCodeMessage]byte{
	0x0E,             // push cs
	0x1F,             // pop ds: ds = cs
	0xBE, 0x00, 0x00, // mov si, message (patched)
	0xAC,       // next: lodsb
	0x22, 0xC0, // and al, al
	0x74, 0x0B, // jz wait (the NUL ending the message)
	0x56,       // push si
	0xB4, 0x0E, // mov ah, 0Eh: teletype output
	0xBB, 0x07, 0x00, // mov bx, 0007h: page 0, light grey
	0xCD, 0x10, // int 10h
	0x5E,       // pop si
	0xEB, 0xF0, // jmp next
	0x32, 0xE4, // wait: xor ah, ah: read a key
	0xCD, 0x16, // int 16h
	0xCD, 0x19, // int 19h: bootstrap again
	0xEB, 0xFE, // jmp $
}

// BootMessage is the message the code prints, as mkfs.fat words it.
const BootMessage = "This is not a bootable disk.  Please insert a bootable floppy and\r\n" +
	"press any key to try again ... \r\n"

// PutBootCode writes the jump, the code and its message (NUL-terminated,
// the rest of the code area zeroed) into the boot sector p, for a FAT32
// boot sector or a FAT12/16 one, and the signature at 510.
func PutBootCode(p []byte, fat32 bool) {
	off, size := BootCodeOffset16, BootCodeSize16
	if fat32 {
		off, size = BootCodeOffset32, BootCodeSize32
	}
	p[0], p[1], p[2] = 0xEB, byte(off-2), 0x90 // jmp short off; nop
	code := p[off : off+size]
	clear(code)
	copy(code, bootCode[:])
	le.PutUint16(code[offMovSI:], uint16(bootLoadAddress+off+BootCodeMessage))
	copy(code[BootCodeMessage:size-1], BootMessage) // the last byte stays NUL
	PutSignature(p)
}
