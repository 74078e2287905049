"""The paper's two models as LightningModules: the attention network and the shallow baseline."""

from mosei_attn.models.attention import AttentionModule, AttentionNet
from mosei_attn.models.base import EmotionModule
from mosei_attn.models.output import NetOutput
from mosei_attn.models.shallow import ShallowModule, ShallowNet

__all__ = ["AttentionModule", "AttentionNet", "EmotionModule", "NetOutput", "ShallowModule", "ShallowNet"]
