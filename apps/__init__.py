"""medkeras applications: polyp, frames, pe, cimt."""
