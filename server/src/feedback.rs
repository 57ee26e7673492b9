//! The interceptor that lets keyframe and bitrate feedback through to the relay.
//!
//! In `rtc` 0.21 inbound RTCP ends at the interceptor chain's terminus unless an interceptor
//! marks a packet [`Attribute::DeliverToApplication`]. An SFU must relay a receiver's PLI/FIR
//! upstream and adapt to the receiver's downlink ([`crate::downlink`]), so this marks compound
//! packets carrying those or report blocks, and leaves NACKs and TWCC to the interceptors that
//! act on them.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Marks inbound RTCP with PLI, FIR, REMB or loss reports for delivery to the application.
#[derive(Default)]
pub struct FeedbackTap {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

fn wanted(p: &dyn rtc::rtcp::packet::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>()
        || any.is::<FullIntraRequest>()
        || any.is::<ReceiverEstimatedMaximumBitrate>()
        || any
            .downcast_ref::<ReceiverReport>()
            .is_some_and(|r| !r.reports.is_empty())
        || any
            .downcast_ref::<SenderReport>()
            .is_some_and(|r| !r.reports.is_empty())
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| wanted(p.as_ref()))
            && !msg.message.has(&Attribute::DeliverToApplication)
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for FeedbackTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::{AttributedPacket, Registry, Slot};
    use rtc::shared::{TransportContext, TransportMessage};

    fn tagged(packets: Vec<Box<dyn rtc::rtcp::packet::Packet>>) -> TaggedPacket {
        TransportMessage {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(packets)),
        }
    }

    #[test]
    fn keyframe_requests_pass_the_terminus_reports_do_not() {
        let mut chain = Registry::new()
            .with(Slot::Custom(9_500), FeedbackTap::default())
            .build();
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        };
        chain.handle_read(tagged(vec![Box::new(pli)])).unwrap();
        let out = chain.poll_read().expect("a pli reaches the application");
        assert!(matches!(&out.message.packet, Packet::Rtcp(p) if p.len() == 1));
        let rr = rtc::rtcp::receiver_report::ReceiverReport::default();
        chain.handle_read(tagged(vec![Box::new(rr)])).unwrap();
        assert!(
            chain.poll_read().is_none(),
            "a plain receiver report stays in the chain"
        );
    }
}
