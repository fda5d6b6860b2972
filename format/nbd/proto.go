package nbd

// Values of proto.md ("Values"), by phase.

// Magic numbers: "Handshake", "Request message", "Simple reply message",
// "Structured reply chunk message".
const (
	// NBDMAGIC is the first 8 bytes a server sends ("NBDMAGIC").
	NBDMAGIC uint64 = 0x4e42444d41474943
	// IHAVEOPT follows it in newstyle negotiation, and starts every
	// option the client sends ("IHAVEOPT").
	IHAVEOPT uint64 = 0x49484156454F5054
	// OldstyleMagic follows it in oldstyle negotiation.
	OldstyleMagic uint64 = 0x00420281861253
	// OptReplyMagic starts every option reply (fixed newstyle).
	OptReplyMagic uint64 = 0x3e889045565a9

	RequestMagic         uint32 = 0x25609513
	SimpleReplyMagic     uint32 = 0x67446698
	StructuredReplyMagic uint32 = 0x668e33ef
)

// Handshake flags, sent by the server ("Handshake flags").
const (
	FlagFixedNewstyle uint16 = 1 << 0
	FlagNoZeroes      uint16 = 1 << 1
)

// Client flags ("Client flags").
const (
	FlagCFixedNewstyle uint32 = 1 << 0
	FlagCNoZeroes      uint32 = 1 << 1
)

// Transmission flags ("Transmission flags").
const (
	FlagHasFlags        uint16 = 1 << 0
	FlagReadOnly        uint16 = 1 << 1
	FlagSendFlush       uint16 = 1 << 2
	FlagSendFUA         uint16 = 1 << 3
	FlagRotational      uint16 = 1 << 4
	FlagSendTrim        uint16 = 1 << 5
	FlagSendWriteZeroes uint16 = 1 << 6
	FlagSendDF          uint16 = 1 << 7
	FlagCanMultiConn    uint16 = 1 << 8
	FlagSendResize      uint16 = 1 << 9
	FlagSendCache       uint16 = 1 << 10
	FlagSendFastZero    uint16 = 1 << 11
)

// Option types ("Option types").
const (
	OptExportName      uint32 = 1
	OptAbort           uint32 = 2
	OptList            uint32 = 3
	OptStartTLS        uint32 = 5
	OptInfo            uint32 = 6
	OptGo              uint32 = 7
	OptStructuredReply uint32 = 8
	OptListMetaContext uint32 = 9
	OptSetMetaContext  uint32 = 10
	OptExtendedHeaders uint32 = 11
)

// Option reply types ("Option reply types"); the errors have bit 31 set.
const (
	RepAck              uint32 = 1
	RepServer           uint32 = 2
	RepInfo             uint32 = 3
	RepMetaContext      uint32 = 4
	RepFlagError        uint32 = 1 << 31
	RepErrUnsup         uint32 = RepFlagError | 1
	RepErrPolicy        uint32 = RepFlagError | 2
	RepErrInvalid       uint32 = RepFlagError | 3
	RepErrPlatform      uint32 = RepFlagError | 4
	RepErrTLSReqd       uint32 = RepFlagError | 5
	RepErrUnknown       uint32 = RepFlagError | 6
	RepErrShutdown      uint32 = RepFlagError | 7
	RepErrBlockSizeReqd uint32 = RepFlagError | 8
	RepErrTooBig        uint32 = RepFlagError | 9
)

// Information types of NBD_REP_INFO ("NBD_OPT_INFO and NBD_OPT_GO").
const (
	InfoExport      uint16 = 0
	InfoName        uint16 = 1
	InfoDescription uint16 = 2
	InfoBlockSize   uint16 = 3
)

// Request types ("Request types").
const (
	CmdRead        uint16 = 0
	CmdWrite       uint16 = 1
	CmdDisc        uint16 = 2
	CmdFlush       uint16 = 3
	CmdTrim        uint16 = 4
	CmdCache       uint16 = 5
	CmdWriteZeroes uint16 = 6
	CmdBlockStatus uint16 = 7
)

// Command flags ("Command flags").
const (
	CmdFlagFUA    uint16 = 1 << 0
	CmdFlagNoHole uint16 = 1 << 1
	CmdFlagDF     uint16 = 1 << 2
	CmdFlagReqOne uint16 = 1 << 3
)

// Structured reply flags and types ("Structured reply flags",
// "Structured reply types"); the error types have bit 15 set.
const (
	ReplyFlagDone uint16 = 1 << 0

	ReplyTypeNone        uint16 = 0
	ReplyTypeOffsetData  uint16 = 1
	ReplyTypeOffsetHole  uint16 = 2
	ReplyTypeBlockStatus uint16 = 5
	ReplyTypeError       uint16 = 1<<15 + 1
	ReplyTypeErrorOffset uint16 = 1<<15 + 2
)

// State flags of the base:allocation metadata context ("base:allocation
// metadata context").
const (
	StateHole uint32 = 1 << 0
	StateZero uint32 = 1 << 1
)

// ContextBaseAllocation is the metadata context of allocation status.
const ContextBaseAllocation = "base:allocation"

// DefaultPort is the IANA port of NBD (doc/uri.md).
const DefaultPort = "10809"
