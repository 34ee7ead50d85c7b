/** A DICOM transfer syntax with its standard name (PS3.6 Annex A). */
interface TransferSyntax {
  name: string;
  /** Whether ITK-wasm's GDCM build (@itk-wasm/dicom 7.6) decodes it. */
  decodable: boolean;
  lossy: boolean;
}

// The encodings test checks the JPEG lossless, JPEG-LS, JPEG 2000 and RLE entries on real files.
// NOTE: the other decodable entries follow GDCM's codec list and are untested here.
const TRANSFER_SYNTAXES: Record<string, TransferSyntax> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', decodable: true, lossy: false },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', decodable: true, lossy: false },
  '1.2.840.10008.1.2.1.99': {
    name: 'Deflated Explicit VR Little Endian',
    decodable: true,
    lossy: false,
  },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian', decodable: true, lossy: false },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', decodable: true, lossy: true },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', decodable: true, lossy: true },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless (Process 14)', decodable: true, lossy: false },
  '1.2.840.10008.1.2.4.70': {
    name: 'JPEG Lossless, First-Order Prediction (Process 14, SV1)',
    decodable: true,
    lossy: false,
  },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', decodable: true, lossy: false },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Near-Lossless', decodable: true, lossy: true },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 (Lossless Only)', decodable: true, lossy: false },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', decodable: true, lossy: true },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', decodable: true, lossy: false },
  '1.2.840.10008.1.2.4.92': {
    name: 'JPEG 2000 Part 2 Multi-component (Lossless Only)',
    decodable: false,
    lossy: false,
  },
  '1.2.840.10008.1.2.4.93': {
    name: 'JPEG 2000 Part 2 Multi-component',
    decodable: false,
    lossy: true,
  },
  '1.2.840.10008.1.2.4.94': { name: 'JPIP Referenced', decodable: false, lossy: false },
  '1.2.840.10008.1.2.4.95': { name: 'JPIP Referenced Deflate', decodable: false, lossy: false },
  '1.2.840.10008.1.2.4.100': {
    name: 'MPEG2 Main Profile @ Main Level',
    decodable: false,
    lossy: true,
  },
  '1.2.840.10008.1.2.4.101': {
    name: 'MPEG2 Main Profile @ High Level',
    decodable: false,
    lossy: true,
  },
  '1.2.840.10008.1.2.4.102': {
    name: 'MPEG-4 AVC/H.264 High Profile',
    decodable: false,
    lossy: true,
  },
  '1.2.840.10008.1.2.4.103': {
    name: 'MPEG-4 AVC/H.264 BD-compatible High Profile',
    decodable: false,
    lossy: true,
  },
  '1.2.840.10008.1.2.4.107': { name: 'HEVC/H.265 Main Profile', decodable: false, lossy: true },
  '1.2.840.10008.1.2.4.108': { name: 'HEVC/H.265 Main 10 Profile', decodable: false, lossy: true },
  '1.2.840.10008.1.2.4.110': { name: 'JPEG XL Lossless', decodable: false, lossy: false },
  '1.2.840.10008.1.2.4.111': { name: 'JPEG XL JPEG Recompression', decodable: false, lossy: false },
  '1.2.840.10008.1.2.4.112': { name: 'JPEG XL', decodable: false, lossy: true },
  '1.2.840.10008.1.2.4.201': {
    name: 'High-Throughput JPEG 2000 (Lossless Only)',
    decodable: false,
    lossy: false,
  },
  '1.2.840.10008.1.2.4.202': {
    name: 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
    decodable: false,
    lossy: false,
  },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000', decodable: false, lossy: true },
};

/** Describes a transfer syntax UID; unknown UIDs are reported as such and tried anyway. */
export function describeTransferSyntax(uid: string): TransferSyntax & { known: boolean } {
  const entry = TRANSFER_SYNTAXES[uid];
  if (entry === undefined) {
    return { name: 'unknown transfer syntax', decodable: true, lossy: false, known: false };
  }
  return { ...entry, known: true };
}
